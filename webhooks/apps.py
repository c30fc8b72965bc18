from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        """The engine tells its finish listeners after commit; it imports nothing of this app."""
        from runs.engine.dispatch import register_finish_listener

        from .tasks import send_run_finished

        register_finish_listener(send_run_finished)
