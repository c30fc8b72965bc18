from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Runs"

    def ready(self):
        """Wire the layers that must not import each other: the framework's gate, the engine's task sender."""
        from runs.engine.dispatch import register_sender
        from runs.gate import GATE
        from runs.http.gate import register
        from runs.lookups import register as register_lookups
        from runs.tasks import send_execute_run

        register(GATE)
        register_lookups()
        register_sender(send_execute_run)
