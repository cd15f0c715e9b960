import sys

from facemoji.cli import main

sys.exit(main())
