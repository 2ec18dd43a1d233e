"""The manual flow when the inbox holds the wrong files, or not all of them: a clear stop, then resume."""

from __future__ import annotations

from cucmkit.lab import pki

from .labcheck import assert_renewed


def _forget_current_ca(env, node, store):
    """Remove the current lab CA from a trust store, so the chain must come from the CA's files."""
    current = {pki.fingerprint(p) for p in env.lab.ca.chain()}
    lab_node = env.lab.state.node(node)
    for filename, pem in lab_node.trust(store).items():
        if pki.fingerprint(pem) in current:
            lab_node.delete_trust(store, filename)


def test_incomplete_or_wrong_files_in_the_inbox_fail_then_resume(env):
    _forget_current_ca(env, "cucm-sub1", "ipsec-trust")
    ca = env.manual_ca()
    with env.open("ipsec", ca=ca, nodes=("cucm-sub1",)) as renewal:
        assert renewal.run().status == "waiting"
        name = ca.request_name("cucm-sub1.lab.example", "ipsec")
        csr = ca.csr_path(name).read_text()
        other_key_csr = env.lab.state.node("cucm-sub2").generate_csr("ipsec")
        wrong, chain = env.lab.ca.issue(other_key_csr, "ipsec")
        (ca.inbox_for(name) / "wrong.cer").write_text(wrong + "".join(chain))
        result = renewal.run()
        assert result.status == "failed" and "fails validation" in result.message
        assert env.lab.state.node("cucm-sub1").own()["ipsec"].pem != wrong      # nothing uploaded
        (ca.inbox_for(name) / "wrong.cer").unlink()
        leaf, chain = env.lab.ca.issue(csr, "ipsec")
        (ca.inbox_for(name) / "leaf.cer").write_text(leaf)                      # the chain forgotten at first
        first = renewal.run()
        assert first.status == "failed" and "fails validation" in first.message
        (ca.inbox_for(name) / "chain.pem").write_text("".join(chain))
        result = renewal.run()
    assert_renewed(env, "ipsec", result)
    assert env.ledger("ipsec").get("csrs", "cucm-sub1.lab.example")["pem"].strip() == csr.strip()
