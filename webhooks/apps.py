from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        """The engine and the cohorts tell their finish listeners after commit; they import nothing of this app."""
        from replay.cohorts.events import register_finish_listener as on_cohort_finished
        from runs.engine.dispatch import register_finish_listener as on_run_finished

        from .tasks import send_cohort_finished, send_run_finished

        on_run_finished(send_run_finished)
        on_cohort_finished(send_cohort_finished)
