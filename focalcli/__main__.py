"""`python -m focalcli` runs the `focal` command line."""

from focalcli.cli import main

if __name__ == "__main__":
    main()
