"""Errors that are the user's to fix: the CLI prints them as one line and exits with status 2."""

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
