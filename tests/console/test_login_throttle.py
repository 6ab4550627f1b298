"""Failed sign-ins are throttled per username and per client address, on the console and the admin."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
RATES = {"ingest": None, "ofrep": None, "login": "5/15min", "login_user": "12/15min", "login_ip": "8/15min"}


def _client(address: str = "203.0.113.7") -> Client:
    return Client(REMOTE_ADDR=address)


@pytest.fixture(autouse=True)
def rates():
    with override_settings(RATE_LIMITS=RATES):
        yield


def test_five_wrong_passwords_then_even_the_right_one_is_refused_with_429(owner):
    client = _client()
    for _ in range(5):
        response = client.post("/login/", {"username": "alice", "password": "nope"})
        assert response.status_code == 200
        assert b"did not match" in response.content
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 15 * 60
    assert b"Too many failed sign-ins" in response.content
    assert b"Try again in" in response.content
    assert "_auth_user_id" not in client.session


def test_a_strangers_failures_from_one_address_do_not_lock_the_customer_out(owner):
    stranger = _client("198.51.100.66")
    for _ in range(7):  # past the pair's 5, short of the address's 8
        stranger.post("/login/", {"username": "alice", "password": "nope"})
    assert stranger.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 429
    assert _client("192.0.2.1").post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302


def test_the_pair_limit_holds_in_another_letter_case(owner):
    client = _client()
    for _ in range(5):
        client.post("/login/", {"username": "alice", "password": "nope"})
    assert client.post("/login/", {"username": "ALICE", "password": PASSWORD}).status_code == 429


def test_the_slower_username_limit_holds_across_addresses(owner):
    for index in range(12):  # 12 addresses, one failure each: no pair is over, the username is
        _client(f"198.51.100.{index}").post("/login/", {"username": "alice", "password": "nope"})
    response = _client("192.0.2.1").post("/login/", {"username": "ALICE", "password": PASSWORD})
    assert response.status_code == 429


def test_the_address_limit_stops_one_address_guessing_many_usernames(owner, teammate):
    client = _client()
    for index in range(8):
        client.post("/login/", {"username": f"user{index}", "password": "nope"})
    response = client.post("/login/", {"username": "bob", "password": PASSWORD})
    assert response.status_code == 429
    # Another address is not affected, and bob's own count is untouched.
    assert _client("192.0.2.9").post("/login/", {"username": "bob", "password": PASSWORD}).status_code == 302


def test_successful_sign_ins_are_not_counted(owner):
    for _ in range(12):
        client = _client()
        assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    assert _client().post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302


def test_four_failures_still_let_the_right_password_in(owner):
    client = _client()
    for _ in range(4):
        client.post("/login/", {"username": "alice", "password": "nope"})
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302


def test_behind_a_proxy_the_forwarded_address_is_counted(owner, settings):
    settings.BEHIND_PROXY = True
    for index in range(8):
        _client("10.0.0.1").post(
            "/login/", {"username": f"user{index}", "password": "nope"}, HTTP_X_FORWARDED_FOR="203.0.113.50"
        )
    # The proxy's own address carries other clients: only the forwarded one is throttled.
    other = _client("10.0.0.1").post(
        "/login/", {"username": "alice", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="203.0.113.51"
    )
    assert other.status_code == 302
    throttled = _client("10.0.0.1").post(
        "/login/", {"username": "alice", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="203.0.113.50"
    )
    assert throttled.status_code == 429


def test_the_admin_sign_in_is_throttled_the_same_way(db):
    get_user_model().objects.create_superuser("staff", "staff@example.com", "staff-password-1")
    client = _client()
    for _ in range(5):
        response = client.post("/admin/login/", {"username": "staff", "password": "nope"})
        assert response.status_code == 200
    response = client.post("/admin/login/", {"username": "staff", "password": "staff-password-1"})
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert "_auth_user_id" not in client.session
    # From another address the staff member still signs in: the lock is on the username and address pair.
    other = _client("192.0.2.3")
    other.post("/admin/login/", {"username": "staff", "password": "staff-password-1"})
    assert "_auth_user_id" in other.session
