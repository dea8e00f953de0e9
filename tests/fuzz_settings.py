"""Settings of the live server tests/test_fuzz_api.py fuzzes: production settings, faster password hashing.

PBKDF2 costs ~0.3 s per HTTP Basic attempt on the CI machine, and most fuzzed requests to Basic-protected
operations carry made-up credentials that Django still hashes: the budget would go to hashing instead of
to the API. PBKDF2 stays listed so the users created by the test process (with the default hasher) log in.
"""

from eventsite.settings import *  # noqa: F403

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
