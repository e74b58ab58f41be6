"""Integration error of `harness.analysis.energy.integrate_power` on synthetic power traces.

Each trace has a known integral over its window: a step load (idle → busy → idle), a
ramp, a sine (DVFS wobble), each clean and with zero-mean measurement noise (σ = 0.1 W,
about what an INA3221 rail shows at 5 W). Samples come at uneven times (rate ±50 %
jitter) at the rates real sources give (fuel gauge / tegrastats 10 Hz, sampler
default 20 Hz, sampler 100 Hz), and the 60 s window starts and ends between samples.
Seeded, so every run prints the same numbers. Target: worst relative error < 0.5 %.

Also printed, outside the figure: inference bursts (37 ms at 9 W every 100 ms) that a
10–20 Hz source cannot resolve. That error is aliasing — the samples do not contain
the information — not integration error; it falls with the rate (see the 1 kHz row,
an external monitor's rate), which is why per-inference energy on short inferences
wants ≥ 100 Hz or an external monitor.

The last line is the figure: the worst relative error in percent over the resolved traces.
Usage: python benchmarks/energy.py [--seeds 20]
"""

from __future__ import annotations

import argparse

import numpy as np

from harness.analysis.energy import integrate_power

WINDOW = (3.137, 63.071)  # s: a 60 s steady state whose edges fall between samples


def step(t):  # idle 1.8 W, busy 6.5 W from 10.2 s to 50.9 s
    return np.where((t >= 10.2) & (t < 50.9), 6.5, 1.8)


def step_integral(a, b):
    busy = max(0.0, min(b, 50.9) - max(a, 10.2))
    return 1.8 * (b - a) + (6.5 - 1.8) * busy


def ramp(t):  # heating up: 3 W rising 0.05 W/s
    return 3.0 + 0.05 * t


def ramp_integral(a, b):
    return 3.0 * (b - a) + 0.025 * (b * b - a * a)


def sine(t):  # DVFS wobble: 5 W ± 1.5 W at 0.3 Hz
    return 5.0 + 1.5 * np.sin(2 * np.pi * 0.3 * t)


def sine_integral(a, b):
    w = 2 * np.pi * 0.3
    return 5.0 * (b - a) - 1.5 / w * (np.cos(w * b) - np.cos(w * a))


def bursts(t):  # inferences: 9 W for 37 ms every 100 ms, 2 W between
    return np.where(np.mod(t, 0.1) < 0.037, 9.0, 2.0)


def bursts_integral(a, b):
    def cum(x):
        whole, part = np.divmod(x, 0.1)
        return whole * (0.037 * 9.0 + 0.063 * 2.0) + (9.0 * min(part, 0.037) + 2.0 * max(0.0, part - 0.037))

    return float(cum(b) - cum(a))


TRACES = {"step": (step, step_integral), "ramp": (ramp, ramp_integral), "sine": (sine, sine_integral)}
ALIASED = {"bursts": (bursts, bursts_integral)}
RATES_HZ = (10.0, 20.0, 100.0)
NOISE_W = 0.1  # zero-mean measurement noise (σ)


def uneven_times(rng, rate_hz, t_end):
    dt = rng.uniform(0.5, 1.5, size=int(t_end * rate_hz * 1.2) + 10) / rate_hz
    t = np.cumsum(dt) - dt[0] * rng.uniform()
    return t[t <= t_end]


def errors(fn, integral, rate, noise, seeds):
    exact = integral(*WINDOW)
    errs = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        t = uneven_times(rng, rate, 70.0)
        p = fn(t) + rng.normal(0.0, noise, t.size) if noise else fn(t)
        errs.append(abs(integrate_power(t, p, *WINDOW) - exact) / exact * 100)
    return errs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()

    print(f"{'trace':8} {'rate Hz':>7} {'noise W':>7} {'mean err %':>11} {'worst err %':>12}")
    worst_all = 0.0
    for name, (fn, integral) in TRACES.items():
        for rate in RATES_HZ:
            for noise in (0.0, NOISE_W):
                errs = errors(fn, integral, rate, noise, args.seeds)
                worst_all = max(worst_all, max(errs))
                print(f"{name:8} {rate:7.0f} {noise:7.2f} {np.mean(errs):11.4f} {max(errs):12.4f}")
    print("-- aliasing, not in the figure: bursts shorter than the sample period --")
    for name, (fn, integral) in ALIASED.items():
        for rate in (*RATES_HZ, 1000.0):
            errs = errors(fn, integral, rate, 0.0, args.seeds)
            print(f"{name:8} {rate:7.0f} {0.0:7.2f} {np.mean(errs):11.4f} {max(errs):12.4f}")
    print(f"worst relative integration error: {worst_all:.4f} % (target < 0.5 %)")


if __name__ == "__main__":
    main()
