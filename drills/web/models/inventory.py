from __future__ import annotations

import ipaddress

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


def plain_address(value: str) -> None:
    """A host's address is a peer in fault rules: "fe80::1%eth0" names an interface too."""
    if "%" in value:
        raise ValidationError(
            "%(value)s has a scope (the part after %%); give the host's plain address",
            params={"value": value},
        )
    ipaddress.ip_address(value)


class Host(models.Model):
    """A target host with an agent listening on its own queue."""

    name = models.SlugField(max_length=63, unique=True)
    address = models.GenericIPAddressField(validators=[plain_address])
    agent_queue = models.CharField(max_length=100)
    # The network namespace the host lives in (lab hosts); empty for a real machine.
    netns = models.CharField(max_length=63, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    protected = models.BooleanField(default=False)
    lab = models.BooleanField(default=False, help_text="Registered by `drillhall lab up`.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Service(models.Model):
    """A service listening on a host: what playbook targets name with `service:`."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="services")
    name = models.SlugField(max_length=63)
    port = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(65535)])
    kind = models.CharField(
        max_length=32, blank=True, help_text="What speaks on the port: http, redis, postgres, ..."
    )

    class Meta:
        ordering = ["host__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["host", "name"], name="service_unique_per_host"),
        ]

    def __str__(self) -> str:
        return f"{self.host.name}/{self.name}:{self.port}"
