from django.urls import reverse

from accounts.models import PersonalDataReveal
from tests.base import BaseTestCase, make_account


class RevealTests(BaseTestCase):
    def setUp(self) -> None:
        self.account = make_account(reference="LD-PII", full_name="王小明", phone="13812345678")

    def test_personal_data_is_masked_by_default(self):
        self.client.force_login(self.bob)
        page = self.client.get(reverse("accounts:detail", args=["LD-PII"]))
        self.assertContains(page, "王**")
        self.assertContains(page, "138****5678")
        self.assertNotContains(page, "13812345678")

    def test_a_handler_reveals_and_the_reveal_is_logged(self):
        self.client.force_login(self.bob)
        page = self.client.post(reverse("accounts:reveal", args=["LD-PII"]), {"purpose": "caller"})
        self.assertContains(page, "13812345678")
        self.assertContains(page, "王小明")
        reveal = PersonalDataReveal.objects.get()
        assert (reveal.account, reveal.user) == (self.account, self.bob)

    def test_an_analyst_may_not_reveal_and_nothing_is_logged(self):
        self.client.force_login(self.alice)
        page = self.client.get(reverse("accounts:detail", args=["LD-PII"]))
        self.assertNotContains(page, "Reveal personal data")
        response = self.client.post(reverse("accounts:reveal", args=["LD-PII"]))
        assert response.status_code == 403
        assert not PersonalDataReveal.objects.exists()
        self.assertNotContains(response, "13812345678", status_code=403)

    def test_the_auditor_sees_every_reveal_on_the_audit_page(self):
        self.client.force_login(self.bob)
        self.client.post(reverse("accounts:reveal", args=["LD-PII"]), {"purpose": "caller"})
        self.client.force_login(self.frank)
        # Session, user, permissions, the reveals, the searches, the user changes, the
        # roles for the header; the people for the reveals' filter; saved filters.
        with self.assertNumQueries(9):
            page = self.client.get(reverse("decisions:audit"))
        self.assertContains(page, "Personal data revealed")
        rows = page.context["reveals"]
        assert [(r.user.username, r.account.reference) for r in rows] == [("bob", "LD-PII")]
        self.assertContains(page, "<td>bob</td>", html=False)
        # The audit page itself shows no personal data.
        self.assertNotContains(page, "13812345678")
