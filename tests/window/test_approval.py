"""The approval point restates what will happen; badges are text; the button label is whole."""

from __future__ import annotations

from cucmkit.approval import ApprovalScope, badge
from cucmkit.notebook import impact_banner
from tests.renewal.test_plan import plan


def test_tomcat_scope_names_the_restart_on_a_node_outside_the_renewal() -> None:
    scope = ApprovalScope.of(plan("tomcat", {"cucm-sub1": 10}), restart_limit=600, registration_limit=1800)
    assert scope.renewed == ("cucm-sub1",) and scope.restart_count == 9 and not scope.phone_reset
    text = scope.markdown()
    assert "- Restart on cucm-sub1: Cisco Tomcat, Cisco DRF Local\n" in text
    assert "- Restart on imp-pub: Cisco Tomcat, Cisco DRF Local (not renewed: the tomcat procedure restarts Cisco " \
           "Tomcat, Cisco DRF Local on every node where it runs, so that each node loads the new root and " \
           "intermediates of tomcat-trust)" in text
    assert scope.headline() == ("[MEDIUM] tomcat on lab: 1 node(s) renewed, 9 restart(s) on 4 node(s); "
                                "at most 90 min")
    assert badge("high") == "[HIGH]"


def test_callmanager_scope_counts_restarts_and_phones() -> None:
    scope = ApprovalScope.of(plan("CallManager", {"cucm-pub": 5, "cucm-sub1": 5, "cucm-sub2": 5}),
                             restart_limit=60, registration_limit=300, phones=200)
    assert scope.phone_reset and scope.phones == 200
    assert f"{scope.restart_count} restart(s) on 3 node(s) and a reset of 200 phones" in scope.headline()
    assert scope.max_seconds == scope.restart_count * 60 + 300
    assert "Reset of all devices: 200 registered phones" in scope.markdown()


def test_button_label_is_whole_and_badges_are_text() -> None:
    scope = ApprovalScope.of(plan("tomcat", {"cucm-sub1": 10}), restart_limit=600, registration_limit=1800)
    assert scope.button_label() == "Approve the tomcat renewal on lab"
    banner = impact_banner("CallManager")
    assert banner.startswith("### [HIGH] CallManager")
    assert not any(ord(ch) > 0x2600 for ch in banner.splitlines()[0])    # no emoji in the badge line


def test_the_approval_says_multi_server_or_per_node() -> None:
    from dataclasses import replace

    per_node = ApprovalScope.of(plan("tomcat", {"cucm-sub1": 10}), restart_limit=600, registration_limit=1800)
    assert per_node.distribution == "per-node" and "- Per node: one CSR and one certificate" in per_node.markdown()
    multi = replace(per_node, distribution="multi-server")
    assert multi.headline().startswith("[MEDIUM] tomcat (multi-server) on lab: ")
    assert "- Multi-server: one CSR and one certificate with every node in its SAN" in multi.markdown()
    assert ApprovalScope.of(plan("ipsec", {"cucm-sub1": 10}), restart_limit=600,
                            registration_limit=1800).distribution == ""              # ipsec is always per node
