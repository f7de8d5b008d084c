import pytest

from skucast.settings import ConfigurationError, load_settings, required_variables

FULL = {
    "SKUCAST_STAGE": "prod",
    "SKUCAST_TABLE_NAME": "t",
    "SKUCAST_DATA_BUCKET": "b",
    "SKUCAST_PLAN_QUEUE_URL": "https://q/plan",
    "SKUCAST_FORECAST_QUEUE_URL": "https://q/forecast",
    "SKUCAST_TRAIN_QUEUE_URL": "https://q/train",
    "SKUCAST_EXPORT_QUEUE_URL": "https://q/export",
    "SKUCAST_PARKED_QUEUE_URL": "https://q/parked",
    "SKUCAST_SIGNING_KEYS_SECRET_ID": "arn:keys",
    "SKUCAST_SERVICE_KEY_SECRET_ID": "arn:service",
    "SKUCAST_USAGE_PLAN_PREFIX": "stack-",
    "SKUCAST_TOKEN_ISSUER": "skucast-stack-prod",
}


def test_given_every_required_variable_when_loading_then_settings_carry_them() -> None:
    settings = load_settings(FULL)
    assert settings.table_name == "t"
    assert settings.access_token_ttl_seconds == 900


def test_given_a_missing_variable_when_loading_then_the_error_names_it() -> None:
    env = {k: v for k, v in FULL.items() if k != "SKUCAST_TABLE_NAME"}
    with pytest.raises(ConfigurationError, match="SKUCAST_TABLE_NAME") as exc:
        load_settings(env)
    assert "\n" not in str(exc.value)


def test_given_an_invalid_number_when_loading_then_the_error_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="SKUCAST_ACCESS_TOKEN_TTL_SECONDS"):
        load_settings({**FULL, "SKUCAST_ACCESS_TOKEN_TTL_SECONDS": "soon"})


def test_required_variables_are_exactly_the_fields_without_default() -> None:
    assert set(required_variables()) == set(FULL)


def test_given_classification_thresholds_when_loading_then_they_replace_only_those_defaults() -> None:
    settings = load_settings({**FULL, "SKUCAST_CLASSIFICATION_THRESHOLDS": '{"min_periods_d": 28, "adi_cutoff": 1.5}'})
    config = settings.classification
    assert (config.min_periods("D"), config.adi_cutoff, config.cv2_cutoff) == (28, 1.5, 0.49)
    assert isinstance(config.min_periods_d, int)
    assert load_settings(FULL).classification.min_periods("D") == 56


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"min_period_d": 28}', "unknown threshold 'min_period_d'"),
        ('{"min_periods_d": 2.5}', "whole number"),
        ('{"cv2_cutoff": 0}', "positive"),
        ('{"cv2_cutoff": "high"}', "positive"),
    ],
)
def test_given_bad_classification_thresholds_when_loading_then_the_error_names_the_variable_and_the_problem(
    value: str, problem: str
) -> None:
    with pytest.raises(ConfigurationError, match="SKUCAST_CLASSIFICATION_THRESHOLDS") as exc:
        load_settings({**FULL, "SKUCAST_CLASSIFICATION_THRESHOLDS": value})
    assert problem in str(exc.value)


@pytest.mark.parametrize("value", ["-0.1", "1.5", "some"])
def test_given_a_rejected_share_outside_0_to_1_when_loading_then_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match="SKUCAST_MAX_REJECTED_SHARE"):
        load_settings({**FULL, "SKUCAST_MAX_REJECTED_SHARE": value})
