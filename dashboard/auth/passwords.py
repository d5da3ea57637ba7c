"""Passwords of the command centre's logins: hashing and the complexity policy.

Hashes: werkzeug ``scrypt`` (``generate_password_hash``; N=2^15, r=8, p=1, 16-byte salt). Policy: at least 8 (at
most 128) characters from at least 3 of lower case / upper case / digits / symbols (GB/T 22239 等保 level 2 asks for
complexity).
"""
from __future__ import annotations

import secrets

from werkzeug.security import check_password_hash, generate_password_hash


class PasswordPolicyError(ValueError):
    """The password does not satisfy the policy; the message says why."""


def hash_password(password: str) -> str:
    """werkzeug scrypt hash of ``password`` (salted; ``scrypt:32768:8:1$salt$hash``)."""
    return generate_password_hash(password, method="scrypt")


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash`` (constant-time comparison inside werkzeug)."""
    try:
        return check_password_hash(password_hash, password)
    except (ValueError, TypeError):
        return False


DUMMY_HASH_ = None


def dummy_check(password: str) -> None:
    """Spend the time of one hash check for unknown users (no timing oracle for user names)."""
    global DUMMY_HASH_
    if DUMMY_HASH_ is None:
        DUMMY_HASH_ = hash_password(secrets.token_hex(8))
    verify_password(DUMMY_HASH_, password)


def check_password_policy(password: str) -> None:
    """Raise :class:`PasswordPolicyError` unless ``password`` has ≥ 8 characters from ≥ 3 of the classes lower case,
    upper case, digits, symbols (and ≤ 128 characters)."""
    if not isinstance(password, str) or len(password) < 8:
        raise PasswordPolicyError("password must have at least 8 characters")
    if len(password) > 128:
        raise PasswordPolicyError("password must have at most 128 characters")
    classes = sum((any(c.islower() for c in password), any(c.isupper() for c in password),
                   any(c.isdigit() for c in password), any(not c.isalnum() for c in password)))
    if classes < 3:
        raise PasswordPolicyError("password needs 3 of: lower case, upper case, digits, symbols")
