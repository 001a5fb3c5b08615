"""The inspections service's entrypoints, one module per feature, each a
mixin of ``InspectionsService`` (``services/inspections/service.py``):

- ``filing``: filing a visit, the visit's actions (``act``), reading, the
  emergencies' sweep and the task force's list of exceptions (INS-1 … INS-5, INS-8);
- ``joint``: joint visits (INS-7);
- ``registers``: items, inspectors, the enterprise directory and its import (INS-1);
- ``draws``: the double random draw (INS-6);
- ``codes``: the entry code and its verification (INS-4);
- ``plan``: the yearly plan (INS-9).
"""
