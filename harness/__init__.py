"""The experiment: config, scaffolds, models, data, evaluation, training, forgetting check, report, runner."""
