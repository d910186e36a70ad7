"""Dataset formats shared by tasks, validated with errors that name the file and line."""
from common.data.errors import DataError

__all__ = ["DataError"]
