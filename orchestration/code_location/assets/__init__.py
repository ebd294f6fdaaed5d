"""The Dagster assets of the code location.

The monthly assets (close, push, export) run a month range in one run (`BackfillPolicy.single_run()`);
Dagster marks that parameter beta and warns about it each time the code location loads, on every command
and in the UI's logs. The warning is known and says nothing to a user: it is filtered here, before any
asset module is imported, and only that category from Dagster.
"""

import warnings

from dagster import BetaWarning

warnings.filterwarnings("ignore", category=BetaWarning)
