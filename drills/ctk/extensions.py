"""Chaos Toolkit extensions (Python packages) that experiments call, and what they drive."""

from __future__ import annotations

# Top-level module -> what it acts on. None of them can run inside drillhall.
KNOWN_EXTENSIONS = {
    "chaosk8s": "Kubernetes (chaostoolkit-kubernetes)",
    "chaosaws": "AWS (chaostoolkit-aws)",
    "chaosazure": "Azure (chaostoolkit-azure)",
    "chaosgcp": "Google Cloud (chaostoolkit-google-cloud-platform)",
    "chaosgce": "Google Compute Engine (chaostoolkit-google-cloud)",
    "chaosspring": "Spring Boot Chaos Monkey (chaostoolkit-spring)",
    "chaostoxi": "Toxiproxy (chaostoolkit-toxiproxy)",
    "chaoscf": "Cloud Foundry (chaostoolkit-cloud-foundry)",
    "chaosistio": "Istio (chaostoolkit-istio)",
    "chaosprometheus": "Prometheus (chaostoolkit-prometheus)",
    "chaosservicefabric": "Azure Service Fabric (chaostoolkit-service-fabric)",
    "chaoswm": "WireMock (chaostoolkit-wiremock)",
    "chaoshumio": "Humio (chaostoolkit-humio)",
    "chaosdatadog": "Datadog (chaostoolkit-datadog)",
    "chaosgrafana": "Grafana (chaostoolkit-grafana)",
    "chaosk6": "k6 load tests (chaostoolkit-k6)",
    "chaosaddons": "Chaos Toolkit add-ons (chaostoolkit-addons)",
    "chaosreliably": "Reliably (chaostoolkit-reliably)",
    "chaosansible": "Ansible (chaostoolkit-ansible)",
    "chaosterraform": "Terraform (chaostoolkit-terraform)",
    "chaosoci": "Oracle Cloud (chaostoolkit-oci)",
    "chaosopenstack": "OpenStack (chaostoolkit-openstack)",
}


def python_reason(module: str, func: str) -> str:
    top = module.split(".", 1)[0]
    call = f"{module}.{func}"
    if top in KNOWN_EXTENSIONS:
        return (
            f"calls {call} from the Chaos Toolkit extension for {KNOWN_EXTENSIONS[top]}; "
            "drillhall cannot run Chaos Toolkit extensions"
        )
    return f"calls the Python function {call}; drillhall runs no experiment code"
