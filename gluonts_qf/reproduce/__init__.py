"""The papers' reproduction: experiments, cells, cache, tables, figures.

``gluonts-qf reproduce`` (:mod:`.command`) runs :func:`.reproduce.reproduce`:
every cell of an experiment's config (:mod:`.cells`) is trained and scored by
the application's run layer (:mod:`gluonts_qf.runs`), cached (:mod:`.cache`)
and summarised (:mod:`.tables`); :mod:`.experiments` says what each experiment
scores, :mod:`.series` scores groups of series jointly, :mod:`.synthetic`
builds data with a known answer and :mod:`.figures` / :mod:`.correlation`
draw the papers' illustrations and heatmaps.
"""
