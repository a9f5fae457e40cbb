#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humphrey.settings")
    from django.core.management import execute_from_command_line

    from audit.context import note_command

    note_command(sys.argv)  # events a command writes say which command, run by whom, where
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
