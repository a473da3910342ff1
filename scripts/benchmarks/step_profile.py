"""One training step under torch.profiler: the top GPU kernels (CPU operators on CPU), the time by kind of
kernel, and how much of the step the GPU spends computing."""
import re

from igan_basicsr.comparison.measure import sync


def _device_time(event):
    for attr in ('self_device_time_total', 'self_cuda_time_total'):
        value = getattr(event, attr, None)
        if value is not None:
            return value
    return 0


KERNEL_KINDS = (('convolution (cuDNN/CUTLASS)', re.compile(r'conv|cudnn|xmma|implicit|gemm|cutlass|sm90|sm80|'
                                                           r'wgrad|dgrad|fprop|nhwc|nchw', re.I)),
                ('optimizer', re.compile(r'adam|multi_tensor|foreach', re.I)),
                ('fused elementwise (Triton)', re.compile(r'^triton', re.I)),
                ('elementwise / reduction (ATen)', re.compile(r'elementwise|vectorized|reduce|unrolled|'
                                                              r'pointwise|prelu|sigmoid|max_pool|pool', re.I)),
                ('copy / memset', re.compile(r'memcpy|memset|copy', re.I)))


def kernel_kind(name):
    return next((kind for kind, pattern in KERNEL_KINDS if pattern.search(name)), 'other')


def profile_step(model, data, device, step_ms, steps=2, top=15):
    """Top kernels (GPU) or operators (CPU) of `steps` training steps; time per step and share of the step."""
    from torch.profiler import ProfilerActivity, profile

    def step():
        model.feed_data(data)
        model.optimize_parameters(1)

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == 'cuda' else [])
    sync(device)
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        sync(device)
    averages = prof.key_averages()
    if device == 'cuda':
        from torch.autograd import DeviceType
        events = [e for e in averages if getattr(e, 'device_type', None) == DeviceType.CUDA and _device_time(e) > 0]
        timing = _device_time
    else:
        events = [e for e in averages if e.self_cpu_time_total > 0]
        timing = lambda e: e.self_cpu_time_total  # noqa: E731
    total_us = sum(timing(e) for e in events)
    ranked = sorted(events, key=timing, reverse=True)
    kernels = [{'name': e.key, 'ms_per_step': timing(e) / 1000 / steps, 'calls_per_step': e.count / steps,
                'share': timing(e) / total_us if total_us else None, 'kind': kernel_kind(e.key)}
               for e in ranked[:top]]
    kinds = {}
    for e in events:
        kinds[kernel_kind(e.key)] = kinds.get(kernel_kind(e.key), 0) + timing(e) / 1000 / steps
    launches = sum(e.count for e in events) / steps
    busy_ms = total_us / 1000 / steps
    return {'unit': 'GPU kernels' if device == 'cuda' else 'CPU operators (self time)',
            'step_ms': step_ms, 'busy_ms_per_step': busy_ms, 'launches_per_step': launches,
            'busy_fraction': busy_ms / step_ms if device == 'cuda' and step_ms else None,
            'kinds': dict(sorted(kinds.items(), key=lambda kv: -kv[1])), 'top': kernels}


def profile_text(profile, label):
    lines = [f"Profile of one step of {label}: {profile['unit']}, mean of 2 steps under torch.profiler."]
    if profile['busy_fraction'] is not None:
        lines.append(f"GPU kernel time {profile['busy_ms_per_step']:.2f} ms per step of {profile['step_ms']:.2f} ms "
                     f"(median, unprofiled): the GPU computes {profile['busy_fraction']:.0%} of the step and waits "
                     f"{1 - profile['busy_fraction']:.0%}; "
                     f"{profile['launches_per_step']:.0f} kernel launches per step.")
    lines.append('By kind: ' + '; '.join(f'{k} {v:.2f} ms' for k, v in profile['kinds'].items()))
    lines.append(f"{'ms/step':>8} {'share':>6} {'calls':>6}  kernel")
    for k in profile['top']:
        share = f"{k['share']:.1%}" if k['share'] is not None else '-'
        lines.append(f"{k['ms_per_step']:8.3f} {share:>6} {k['calls_per_step']:6.0f}  {k['name'][:110]}")
    return '\n'.join(lines)
