"""python -m client {stylize,stylize-image,live,demo} ..."""

from client.launcher import main

if __name__ == "__main__":
    main()
