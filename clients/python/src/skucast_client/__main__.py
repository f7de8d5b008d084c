import sys

from skucast_client.cli import main

sys.exit(main())
