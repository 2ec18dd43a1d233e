import sys

from cucmkit.cli import main

sys.exit(main())
