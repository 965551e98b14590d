"""Errors that are the user's to fix: the CLI prints them as one line and exits with status 2."""

import argparse
from typing import NoReturn

OFFLINE_HINT = (
    "offline options: experiment=quickstart (bundled digits), dataset=folder dataset.path=DIR (your images), "
    "dataset.data_dir=DIR (a prepared TFDS store), model.weights=<file> (local ImageNet weights)"
)


class UserError(Exception):
    """Bad input or an unmet precondition (no network, missing file). Never a bug in the harness."""

    exit_code = 2


class ConfigError(UserError):
    """A config key holds a value that is not allowed."""

    def __init__(self, key: str, value: object, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"config error: {key}={value!r} is not allowed: {allowed}")


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser for the harness's tools, whose refusal of a bad command line is one line (the tool,
    the argument, the value and what is allowed: argparse's own message) and exit status 2; --help as usual."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (--help lists the arguments)\n")
