from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Runs"

    def ready(self):
        """Wire the layers that must not import each other: the framework's gate, the engine's task sender and the
        long poll's wake-up, which hears of each run's end as the webhooks do."""
        from runs.engine.dispatch import register_finish_listener, register_sender
        from runs.gate import GATE
        from runs.http.gate import register
        from runs.lookups import register as register_lookups
        from runs.tasks import send_execute_run
        from runs.waiting import announce_final

        register(GATE)
        register_lookups()
        register_sender(send_execute_run)
        register_finish_listener(announce_final)
