"""Reports: records read back as pandas tables, compared over seeds, and written as reports.

tables        load_table / load_history / summarize: one row per run, per run and epoch, per value
compare       paired comparisons over seeds: which knobs matter, whether a finding holds
sweep_report  an experiment's summary.md, plot and normalized TensorBoard views
study_report  a study's report: the forest plot, ranking, findings, every experiment
fronts        accuracy against inference cost: the Pareto front, the most accurate run within a budget
export        tables as csv, parquet, markdown or json
analysis      looking inside a run: predictions, the chapter's three questions, confusion, aspect ratio, Grad-CAM
"""
