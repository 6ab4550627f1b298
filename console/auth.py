"""Sign-in for the console and the admin, throttled per username and per client address (tenancy.login_throttle).

A throttled attempt re-renders the sign-in form with the reason and answers
HTTP 429 with ``Retry-After``, so that both a person and a script can tell it
from a wrong password (200).
"""

from __future__ import annotations

import math

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm

from lib.ratelimit import client_address
from tenancy.login_throttle import login_failure_record, login_retry_after


class ThrottledLoginFormMixin:
    throttled_seconds: int | None = None

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = client_address(self.request)
        wait = login_retry_after(username=username, address=address)
        if wait is not None:
            self.throttled_seconds = wait
            minutes = max(1, math.ceil(wait / 60))
            raise forms.ValidationError(
                f"Too many failed sign-ins for this account or from this address. "
                f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
                code="throttled",
            )
        try:
            return super().clean()
        except forms.ValidationError:
            login_failure_record(username=username, address=address)
            raise


class ThrottledAuthenticationForm(ThrottledLoginFormMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledLoginFormMixin, AdminAuthenticationForm):
    pass


def _mark_throttled(response, form):
    if form is not None and getattr(form, "throttled_seconds", None):
        response.status_code = 429
        response["Retry-After"] = str(form.throttled_seconds)
    return response


class LoginView(auth_views.LoginView):
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        return _mark_throttled(super().form_invalid(form), form)


def admin_login(request, extra_context=None):
    """The admin's own sign-in page and checks, with the same throttle (mounted before ``admin.site.urls``)."""
    admin.site.login_form = ThrottledAdminAuthenticationForm
    response = admin.site.login(request, extra_context)
    return _mark_throttled(response, getattr(response, "context_data", {}).get("form"))
