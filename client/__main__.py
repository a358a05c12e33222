"""python -m client {stylize,stylize-image} ..."""

from client.cli import main

if __name__ == "__main__":
    main()
