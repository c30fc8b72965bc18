from django.core.management.base import BaseCommand

from mappings.corpus import build_corpus, load_corpus, measure, write_corpus


class Command(BaseCommand):
    help = "Measure the suggested targets for renamed nodes on the corpus of version pairs with known answers."

    def add_arguments(self, parser):
        parser.add_argument(
            "--write", action="store_true", help="Regenerate mappings/fixtures/suggestion_corpus.json first."
        )

    def handle(self, **options):
        if options["write"]:
            write_corpus()
        cases = load_corpus()
        if [c.as_json() for c in cases] != [c.as_json() for c in build_corpus()]:
            self.stderr.write("The corpus file differs from build_corpus(): run with --write to regenerate it.")
        result = measure(cases)
        self.stdout.write(
            f"{result.pairs} version pairs, {result.renamed} renamed nodes "
            f"({result.with_target} with a true target, {result.renamed - result.with_target} removed)\n"
            f"preselected: {result.preselected}\n"
            f"precision of preselected targets: {result.precision:.3f} ({result.preselected_right}/{result.preselected})\n"
            f"recall of preselected targets:    {result.recall:.3f} ({result.preselected_right}/{result.with_target})\n"
            f"top-1 accuracy of the first candidate: {result.top1:.3f} ({result.top1_right}/{result.with_target})\n"
            f"wrong: {len(result.wrong)}"
        )
        for line in result.wrong:
            self.stdout.write(f"  {line}")
