"""The project mails (docs/decisions.md "Issue 14"): the invitation, a role an owner
changed and a removal by an owner each send one mail to the member concerned, with the
project's name escaped in the HTML part; leaving and one's own role change send none."""

import uuid

from test_notifications import all_processed, mail_dir, parts, sent_rows, wait_mails  # noqa: F401
from test_projects import join, person, verify


def kinds_sent(user_id):
    return sorted(kind for _, kind in sent_rows(user_id) if kind.startswith("project_"))


def test_an_invitation_is_mailed_once_to_an_address_with_or_without_an_account(make_user, mail_dir):
    owner = person(make_user, "pmail-inviter", display_name="Ann Owner")
    pid = owner.new_project("<b>Roadmap</b> & co")["id"]
    nobody = f"pmail-nobody-{uuid.uuid4().hex}@example.com"
    inv = owner.invited(pid, nobody, "editor")
    [msg] = wait_mails(mail_dir, nobody, subject="invited")
    text, html = parts(msg)
    assert "Ann Owner" in text and '"<b>Roadmap</b> & co"' in text and "as editor" in text, text
    assert f"/api/v1/projects/{pid}/invitations/{inv['id']}/accept" in text, text
    assert "&lt;b&gt;Roadmap&lt;/b&gt; &amp; co" in html and "<b>Roadmap" not in html, html
    all_processed(owner.id)
    assert len(wait_mails(mail_dir, nobody, subject="invited")) == 1
    assert kinds_sent(owner.id) == ["project_invitation"]


def test_a_role_change_and_a_removal_by_an_owner_are_mailed_to_the_member(make_user, mail_dir):
    owner = person(make_user, "pmail-owner", display_name="Olga Owner")
    member = person(make_user, "pmail-member")
    verify(mail_dir, member)
    pid = owner.new_project("Mailing")["id"]
    join(owner, pid, member, "viewer")
    assert owner.patch_member(pid, member.id, "editor").status_code == 200
    [changed] = wait_mails(mail_dir, member.email, subject="role")
    text, _ = parts(changed)
    assert "Olga Owner made you editor" in text and '"Mailing"' in text, text
    assert owner.remove_member(pid, member.id).status_code == 204
    [removed] = wait_mails(mail_dir, member.email, subject="removed")
    assert "Olga Owner removed you" in parts(removed)[0]
    all_processed(owner.id, member.id)
    assert kinds_sent(member.id) == ["project_removed", "project_role_changed"]


def test_leaving_and_ones_own_role_change_send_no_mail(make_user, mail_dir):
    owner = person(make_user, "pmail-self-owner")
    member = person(make_user, "pmail-self-member")
    verify(mail_dir, member)
    pid = owner.new_project("Quiet")["id"]
    join(owner, pid, member, "owner")
    assert member.patch_member(pid, member.id, "editor").status_code == 200  # own role
    assert member.remove_member(pid, "me").status_code == 204  # leaves
    all_processed(owner.id, member.id)
    assert kinds_sent(member.id) == [] and kinds_sent(owner.id) == ["project_invitation"]


def test_a_renewed_invitation_is_not_mailed_again(make_user, mail_dir):
    owner = person(make_user, "pmail-renew")
    pid = owner.new_project("Renewals")["id"]
    address = f"pmail-renew-{uuid.uuid4().hex}@example.com"
    first = owner.invited(pid, address, "viewer")
    again = owner.invited(pid, address, "editor")
    assert again["id"] == first["id"] and again["role"] == "editor", again
    wait_mails(mail_dir, address, subject="invited")
    all_processed(owner.id)
    assert len(wait_mails(mail_dir, address, subject="invited")) == 1
    assert kinds_sent(owner.id) == ["project_invitation"]
