"""connectors.egress: every spelling of an internal address is refused by the default
policy, allow/deny lists work by host name, IP and CIDR, and the addresses returned are
the ones that were checked (the caller pins them)."""

from __future__ import annotations

import socket

import pytest

from connectors.egress import EgressPolicy
from connectors.errors import ConnectorError, DataSourceDisconnected, EgressDenied, InvalidConnection


@pytest.fixture(autouse=True)
def _no_operator_settings(monkeypatch):
    for name in ("NLQUERY_EGRESS_ALLOW", "NLQUERY_EGRESS_DENY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def dns(monkeypatch):
    """A fake resolver for names (a hostile tenant controls its own DNS); IP literals and
    the numeric forms still go through the real getaddrinfo."""
    records: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in records:
            return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                     (ip, port or 0, 0, 0) if ":" in ip else (ip, port or 0)) for ip in records[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return records


INTERNAL_SPELLINGS = [
    "127.0.0.1", "127.0.0.53", "localhost", "LOCALHOST.", "2130706433", "0x7f000001", "017700000001", "127.1",
    "0177.0.0.1", "::1", "[::1]", "::ffff:127.0.0.1", "[::ffff:127.0.0.1]", "::ffff:7f00:1",
    "0.0.0.0", "0", "::", "[::]", "169.254.169.254", "0xa9fea9fe", "2852039166", "::ffff:169.254.169.254",
    "fe80::1", "224.0.0.1", "239.255.255.250", "ff02::1", "255.255.255.255",
]


@pytest.mark.parametrize("host", INTERNAL_SPELLINGS)
def test_the_default_policy_refuses_every_spelling_of_an_internal_address(host):
    with pytest.raises(EgressDenied) as refused:
        EgressPolicy().resolve(host, 80)
    assert refused.value.code == "access_denied"
    assert host.strip() in refused.value.message  # names the host the caller gave


@pytest.mark.parametrize("host", ["::127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::1", "64:ff9b::a9fe:a9fe"])
def test_ipv6_forms_embedding_an_internal_ipv4_address_are_refused(host):
    with pytest.raises(EgressDenied):
        EgressPolicy().resolve(host)


@pytest.mark.parametrize("address", ["fd00:ec2::254", "100.100.100.200"])
def test_cloud_metadata_addresses_outside_link_local_are_refused(address):
    with pytest.raises(EgressDenied, match="metadata"):
        EgressPolicy().resolve(address)


def test_public_addresses_are_returned_to_be_pinned(dns):
    assert EgressPolicy().resolve("93.184.216.34", 443) == ["93.184.216.34"]
    assert EgressPolicy().resolve("2606:2800:220:1::1") == ["2606:2800:220:1::1"]
    dns["api.example.com"] = ["93.184.216.34", "2606:2800:220:1::1", "93.184.216.34"]
    assert EgressPolicy().resolve("api.example.com", 443) == ["93.184.216.34", "2606:2800:220:1::1"]
    # private networks are not internal by default (deny them with NLQUERY_EGRESS_DENY)
    assert EgressPolicy().resolve("10.1.2.3") == ["10.1.2.3"]


def test_a_name_resolving_to_metadata_or_to_a_mix_is_refused_without_the_addresses(dns):
    dns["rebind.attacker.test"] = ["169.254.169.254"]
    with pytest.raises(EgressDenied, match="rebind.attacker.test") as refused:
        EgressPolicy().resolve("rebind.attacker.test")
    assert "169.254" not in refused.value.message  # the tenant learns the verdict, not the DNS answer
    dns["mixed.attacker.test"] = ["93.184.216.34", "127.0.0.1"]
    with pytest.raises(EgressDenied):  # one bad address is enough: no partial answer to pick from
        EgressPolicy().resolve("mixed.attacker.test")


def test_allow_by_ip_cidr_and_hostname(dns):
    assert EgressPolicy(allow=("127.0.0.1",)).resolve("127.0.0.1", 5432) == ["127.0.0.1"]
    # every spelling of an allowed address is that address
    assert EgressPolicy(allow=("127.0.0.1",)).resolve("2130706433") == ["127.0.0.1"]
    assert EgressPolicy(allow=("127.0.0.1",)).resolve("::ffff:127.0.0.1") == ["::ffff:127.0.0.1"]
    with pytest.raises(EgressDenied):  # allowing one address allows no other
        EgressPolicy(allow=("127.0.0.1",)).resolve("127.0.0.2")
    assert EgressPolicy(allow=("127.0.0.0/8",)).resolve("127.0.0.2") == ["127.0.0.2"]
    assert EgressPolicy(allow=("169.254.0.0/16",)).resolve("169.254.1.1") == ["169.254.1.1"]
    assert EgressPolicy(allow=("::1",)).resolve("[::1]") == ["::1"]
    # by host name: what that name resolves to, and only for that name
    assert EgressPolicy(allow=("localhost",)).resolve("localhost") == ["127.0.0.1"]
    with pytest.raises(EgressDenied):
        EgressPolicy(allow=("localhost",)).resolve("127.0.0.1")
    dns["db.internal.test"] = ["169.254.10.10"]
    dns["other.internal.test"] = ["169.254.10.10"]
    assert EgressPolicy(allow=("DB.Internal.Test.",)).resolve("db.internal.test") == ["169.254.10.10"]
    with pytest.raises(EgressDenied):
        EgressPolicy(allow=("db.internal.test",)).resolve("other.internal.test")
    assert EgressPolicy(allow=("*.internal.test",)).resolve("other.internal.test") == ["169.254.10.10"]


def test_deny_by_cidr_ip_and_hostname_and_deny_wins_over_allow(dns):
    policy = EgressPolicy(deny=("10.0.0.0/8", "203.0.113.9", "blocked.example.com", "*.corp.test"))
    for host in ("10.1.2.3", "::ffff:10.1.2.3", "167837955", "203.0.113.9", "blocked.example.com",
                 "BLOCKED.example.com.", "wiki.corp.test"):
        dns.setdefault("blocked.example.com", ["93.184.216.34"])
        dns.setdefault("wiki.corp.test", ["93.184.216.34"])
        with pytest.raises(EgressDenied, match="denied by the egress policy"):
            policy.resolve(host)
    dns["sneaky.example.com"] = ["10.9.9.9"]
    with pytest.raises(EgressDenied):  # the name is fine, the address it resolves to is not
        policy.resolve("sneaky.example.com")
    assert policy.resolve("93.184.216.34") == ["93.184.216.34"]
    both = EgressPolicy(allow=("10.0.0.0/8", "blocked.example.com"), deny=("10.0.0.0/8", "blocked.example.com"))
    with pytest.raises(EgressDenied):
        both.resolve("10.1.1.1")
    with pytest.raises(EgressDenied):
        both.resolve("blocked.example.com")


def test_without_deny_internal_only_the_lists_apply():
    policy = EgressPolicy(deny_internal=False, deny=("169.254.169.254",))
    assert policy.resolve("127.0.0.1") == ["127.0.0.1"]
    with pytest.raises(EgressDenied):
        policy.resolve("2852039166")  # 169.254.169.254 spelled as a number


def test_unresolvable_and_empty_hosts():
    with pytest.raises(DataSourceDisconnected, match="cannot resolve"):
        EgressPolicy().resolve("no-such-host.invalid")
    with pytest.raises(EgressDenied):
        EgressPolicy().resolve("")
    with pytest.raises(ConnectorError):
        EgressPolicy().resolve("[")


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "127.1", "not a host", "http://x.test/"])
def test_malformed_entries_are_refused_not_ignored(entry):
    with pytest.raises(ValueError, match="entry"):
        EgressPolicy(deny=(entry,))


def test_from_environment(monkeypatch):
    assert EgressPolicy.from_environment(remote=False) is None  # trusted paths: no policy
    remote = EgressPolicy.from_environment(remote=True)
    assert remote == EgressPolicy(deny_internal=True, allow=(), deny=())
    monkeypatch.setenv("NLQUERY_EGRESS_ALLOW", " 127.0.0.1, db.local ,")
    monkeypatch.setenv("NLQUERY_EGRESS_DENY", "10.0.0.0/8")
    assert EgressPolicy.from_environment(remote=True) == EgressPolicy(
        deny_internal=True, allow=("127.0.0.1", "db.local"), deny=("10.0.0.0/8",))
    local = EgressPolicy.from_environment(remote=False)
    assert local == EgressPolicy(deny_internal=False, allow=("127.0.0.1", "db.local"), deny=("10.0.0.0/8",))
    assert local.resolve("169.254.169.254") == ["169.254.169.254"]  # local: only the lists apply
    with pytest.raises(EgressDenied):
        local.resolve("10.0.0.1")
    monkeypatch.delenv("NLQUERY_EGRESS_ALLOW")
    monkeypatch.setenv("NLQUERY_EGRESS_DENY", "10.0.0.0/99")
    with pytest.raises(InvalidConnection, match="NLQUERY_EGRESS_DENY"):  # invalid_request, never a 500
        EgressPolicy.from_environment(remote=True)


@pytest.mark.parametrize("address", ["::ffff:0:7f00:1", "64:ff9b:1::7f00:1", "64:ff9b:1:0:0:0:a9fe:a9fe"])
def test_ipv6_forms_that_embed_an_internal_ipv4_address_are_refused(address):
    with pytest.raises(EgressDenied):
        EgressPolicy().resolve(address)
