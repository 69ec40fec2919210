"""factory_boy factories. Objects that the services create with side effects
(credentials, transitions) are made through the services instead."""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth import get_user_model

from core.uscc import uscc_check_character
from members.models import Institution


def make_uscc(n: int) -> str:
    base = f"91110000MA{n:07d}"
    return base + uscc_check_character(base)


class InstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Institution

    name = factory.Sequence(lambda n: f"Member {n}")
    uscc = factory.Sequence(make_uscc)
    kind = Institution.Kind.CONSUMER_FINANCE
    licence_number = factory.Sequence(lambda n: f"LIC-{n:05d}")
    licence_expiry = factory.LazyFunction(lambda: dt.date.today() + dt.timedelta(days=365))
    status = Institution.Status.ACTIVE


class OperatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"operator{n}")
    is_staff = True
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if create and extracted:
            from django.contrib.auth.models import Group

            self.groups.set(Group.objects.filter(name__in=extracted))
