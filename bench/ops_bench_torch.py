"""ops_bench_torch.py — the PyTorch side of bench/ops_bench.c: the same MLP and CNN, batch 64,
SGD momentum 0.9, synthetic data; prints samples/s.  Usage: ops_bench_torch.py [threads] [secs] [rnn]"""
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
secs = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
torch.set_num_threads(threads)
torch.manual_seed(1)
clock = time.process_time if os.environ.get("LB_BENCH_CPU") else time.perf_counter  # as ops_bench.c


def bench(model):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    X = torch.rand(16, 64, 1, 28, 28)
    Y = torch.randint(0, 10, (16, 64))
    steps, t0 = 0, None
    while True:
        k = steps % 16
        opt.zero_grad()
        loss = F.cross_entropy(model(X[k]), Y[k])
        loss.backward()
        opt.step()
        if t0 is None:
            t0 = clock()
            continue
        steps += 1
        if clock() - t0 > secs:
            break
    return steps * 64 / (clock() - t0)


mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
cnn = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
                    nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
if len(sys.argv) <= 3:
    print("pytorch %s, %d thread(s): MLP %.0f samples/s, CNN %.0f samples/s" % (torch.__version__, threads, bench(mlp), bench(cnn)))

if len(sys.argv) > 3 and sys.argv[3] == "rnn":  # LSTM h128 x24, as ops_bench.c's rnn mode
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.fc = nn.LSTM(32, 128, batch_first=True), nn.Linear(128, 10)

        def forward(self, x):
            return self.fc(self.lstm(x)[0][:, -1])

    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    X, Y = torch.randn(64, 24, 32), torch.randint(0, 10, (64,))
    steps, t0 = 0, None
    while True:
        opt.zero_grad()
        F.cross_entropy(net(X), Y).backward()
        opt.step()
        if t0 is None:
            t0 = clock()
            continue
        steps += 1
        if clock() - t0 > secs:
            break
    print("pytorch, %d thread(s): LSTM h128 x24 %.0f sequences/s" % (threads, steps * 64 / (clock() - t0)))
