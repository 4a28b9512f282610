"""Evaluations that run the whole helpdesk: the multi-turn scenario suite, graded by end state."""

from firstline.evals.scenarios import Scenario, ScenarioResult, load_scenarios, run_scenario, scenario_dir

__all__ = ["Scenario", "ScenarioResult", "load_scenarios", "run_scenario", "scenario_dir"]
