"""torchvision's ResNet (v1.5) in plain torch, without fc, for the
cross-checks of mlcl_encoder_create_resnet (torchvision is not installed).

Module names follow torchvision (conv1, bn1, layer1..layer4, blocks with
conv1/bn1/conv2/bn2[/conv3/bn3] and downsample.0/.1) so that
named_parameters() and buffers() come in the order models.h documents. The
"small" stem is libmlcl's: conv 3x3 stride 1 pad 1, BN, ReLU, no max-pool.
Written from torchvision's definition; imported only when torch is present.
"""
import torch
from torch import nn

BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3)}


def _conv(cin, cout, k, stride):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride, eps, momentum):
        super().__init__()
        self.conv1 = _conv(inplanes, planes, 3, stride)
        self.bn1 = nn.BatchNorm2d(planes, eps=eps, momentum=momentum)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv(planes, planes, 3, 1)
        self.bn2 = nn.BatchNorm2d(planes, eps=eps, momentum=momentum)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(_conv(inplanes, planes, 1, stride),
                                            nn.BatchNorm2d(planes, eps=eps, momentum=momentum))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        idt = x if self.downsample is None else self.downsample(x)
        return self.relu(out + idt)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride, eps, momentum):
        super().__init__()
        self.conv1 = _conv(inplanes, planes, 1, 1)
        self.bn1 = nn.BatchNorm2d(planes, eps=eps, momentum=momentum)
        self.conv2 = _conv(planes, planes, 3, stride)  # v1.5: stride on the 3x3
        self.bn2 = nn.BatchNorm2d(planes, eps=eps, momentum=momentum)
        self.conv3 = _conv(planes, planes * 4, 1, 1)
        self.bn3 = nn.BatchNorm2d(planes * 4, eps=eps, momentum=momentum)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(_conv(inplanes, planes * 4, 1, stride),
                                            nn.BatchNorm2d(planes * 4, eps=eps, momentum=momentum))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        idt = x if self.downsample is None else self.downsample(x)
        return self.relu(out + idt)


class ResNet(nn.Module):
    """ResNet-depth without fc: stem, layer1..4, global average pool, flatten."""

    def __init__(self, depth=18, stem="small", in_channels=3, base_width=64, eps=1e-5,
                 momentum=0.1):
        super().__init__()
        block = Bottleneck if depth == 50 else BasicBlock
        b = base_width
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, b, 7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, b, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(b, eps=eps, momentum=momentum)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if stem == "imagenet" else nn.Identity()
        inpl = b
        for s, nb in enumerate(BLOCKS[depth]):
            blocks = []
            for j in range(nb):
                stride = 2 if (s > 0 and j == 0) else 1
                blocks.append(block(inpl, b << s, stride, eps, momentum))
                inpl = (b << s) * block.expansion
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = inpl

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


def bn_state(model):
    """running_mean, running_var of every BatchNorm2d in order (models.h's state order)."""
    out = []
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            out += [m.running_mean, m.running_var]
    return out


def load_flat(model, params, state):
    """Copies flat float32 arrays (libmlcl's layout) into the model."""
    with torch.no_grad():
        k = 0
        for _, p in model.named_parameters():
            p.copy_(torch.from_numpy(params[k:k + p.numel()]).view_as(p))
            k += p.numel()
        assert k == params.size
        k = 0
        for b in bn_state(model):
            b.copy_(torch.from_numpy(state[k:k + b.numel()]).view_as(b))
            k += b.numel()
        assert k == state.size


def flat_grads(model):
    return torch.cat([p.grad.reshape(-1) for _, p in model.named_parameters()]).numpy()


def flat_state(model):
    return torch.cat([b.reshape(-1) for b in bn_state(model)]).numpy()
