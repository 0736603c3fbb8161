from django.conf import settings
from django.urls import reverse

from tests.base import PASSWORD, BaseTestCase


class LoginTests(BaseTestCase):
    def test_the_login_page_is_served_to_anonymous_users(self):
        response = self.client.get(reverse("login"))
        self.assertContains(response, "Log in to Limit Desk")

    def test_pages_send_anonymous_users_to_log_in(self):
        response = self.client.get(reverse("overview"))
        self.assertRedirects(response, f"{reverse('login')}?next=/")

    def test_it_logs_in_and_lands_on_the_overview(self):
        response = self.client.post(
            reverse("login"), {"username": "alice", "password": PASSWORD}, follow=True
        )
        self.assertContains(response, "Portfolio overview")
        self.assertContains(response, "Risk analyst")

    def test_a_wrong_password_is_refused_with_a_message(self):
        response = self.client.post(reverse("login"), {"username": "alice", "password": "nope"})
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Please enter a correct username and password")
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_it_locks_a_username_after_repeated_failures(self):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            self.client.post(reverse("login"), {"username": "bob", "password": "wrong"})
        # Now even the right password is refused, with an explanation.
        response = self.client.post(reverse("login"), {"username": "bob", "password": PASSWORD})
        self.assertEqual(response.status_code, 429)
        self.assertContains(response, "Too many failed log-ins", status_code=429)
        self.assertContains(response, "Try again in 15 minutes", status_code=429)
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_the_lockout_of_one_user_leaves_the_others_alone(self):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            self.client.post(reverse("login"), {"username": "bob", "password": "wrong"})
        response = self.client.post(reverse("login"), {"username": "carol", "password": PASSWORD})
        self.assertRedirects(response, reverse("overview"))

    def test_logout_ends_the_session(self):
        self.client.force_login(self.alice)
        response = self.client.post(reverse("logout"))
        self.assertRedirects(response, reverse("login"))
        self.assertRedirects(self.client.get(reverse("overview")), "/login/?next=/")
