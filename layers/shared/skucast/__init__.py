"""skucast shared package: settings, schemas, services, repositories, auth and the forecasting domain."""

__version__ = "0.1.0"
