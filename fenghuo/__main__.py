import sys

from fenghuo.cli.main import main

sys.exit(main())
