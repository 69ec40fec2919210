# The consortium key version the sharing tests use.
from tests.sharing.conftest import key_v1  # noqa: F401
