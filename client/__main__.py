"""python -m client {stylize,stylize-image,live,demo} ..."""

import sys

try:
    from client.launcher import main
except KeyboardInterrupt:  # Ctrl-C while Python is still starting up: no traceback
    sys.exit(130)

if __name__ == "__main__":
    main()
