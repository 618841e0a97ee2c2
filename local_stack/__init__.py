"""The whole platform on one machine: ``make up`` / ``make down`` start and stop Prometheus, the
controller and the hub (with its configuration from ``hub_config``) as supervised processes."""
