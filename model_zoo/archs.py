"""Architecture definitions of the zoo, with the published figures each must match.

The MLPerf Tiny models are written here after the layer lists of the mlcommons/tiny
reference Keras definitions (v0.5); the mobile classics come from
`keras.applications` with ``weights=None``. Nothing here downloads anything.

This module imports Keras only inside the builder functions, so the metadata in
`ARCHS` can be read without TensorFlow installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

InputDist = Literal["unit", "symmetric", "pixels", "normal"]

# Calibration/test inputs per kind of data: [0, 1] images, [-1, 1] images (MobileNet
# preprocessing), raw [0, 255] pixels (EfficientNet rescales inside), N(0, 1) features.
INPUT_RANGES: dict[str, tuple[float, float]] = {
    "unit": (0.0, 1.0), "symmetric": (-1.0, 1.0), "pixels": (0.0, 255.0),
}


@dataclass(frozen=True)
class ArchSpec:
    arch: str
    task: str
    input_shape: tuple[int, ...]  # NHWC / NC, batch 1
    input_dist: InputDist
    builder: Callable[[], Any]
    expected_macs: float
    expected_params: float
    reference: str
    onnx: bool = False
    # Commit the fp32 files even above the ~5 MB rule (other areas' tests use them).
    commit_fp32: bool = False
    build_on_demand: bool = False  # never committed, whatever the size


# --- MLPerf Tiny -------------------------------------------------------------------


def _conv_bn_relu(x, filters, kernel, strides=1, activation=True):
    from keras import layers

    x = layers.Conv2D(filters, kernel, strides=strides, padding="same")(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x) if activation else x


def _dw_bn_relu(x, strides=1):
    from keras import layers

    x = layers.DepthwiseConv2D(3, strides=strides, padding="same")(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def kws01_ds_cnn():
    """DS-CNN for keyword spotting: 49x10 MFCC in, 12 classes out."""
    import keras
    from keras import layers

    inputs = keras.Input((49, 10, 1))
    x = _conv_bn_relu(inputs, 64, (10, 4), strides=2)
    x = layers.Dropout(0.2)(x)
    for _ in range(4):
        x = _dw_bn_relu(x)
        x = _conv_bn_relu(x, 64, 1)
    x = layers.Dropout(0.4)(x)
    x = layers.AveragePooling2D(pool_size=(25, 5))(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(12, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="kws01")


def vww01_mobilenet_v1_025():
    """MobileNetV1 alpha=0.25 for visual wake words: 96x96 RGB in, person / no person."""
    import keras
    from keras import layers

    inputs = keras.Input((96, 96, 3))
    x = _conv_bn_relu(inputs, 8, 3, strides=2)
    # (pointwise filters, depthwise stride) of the 13 depthwise-separable blocks
    blocks = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2)] + [(128, 1)] * 5
    blocks += [(256, 2), (256, 1)]
    for filters, stride in blocks:
        x = _dw_bn_relu(x, stride)
        x = _conv_bn_relu(x, filters, 1)
    x = layers.AveragePooling2D(pool_size=tuple(x.shape[1:3]))(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="vww01")


def ic01_resnet8():
    """ResNet-8 for CIFAR-10 image classification: 32x32 RGB in, 10 classes out."""
    import keras
    from keras import layers

    inputs = keras.Input((32, 32, 3))
    x = _conv_bn_relu(inputs, 16, 3)
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        y = _conv_bn_relu(x, filters, 3, strides=stride)
        y = _conv_bn_relu(y, filters, 3, activation=False)
        if stride != 1:  # 1x1 projection of the identity path where the shape changes
            x = layers.Conv2D(filters, 1, strides=stride, padding="same")(x)
        x = layers.Activation("relu")(layers.add([x, y]))
    x = layers.AveragePooling2D(pool_size=8)(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="ic01")


def ad01_fc_autoencoder():
    """Fully connected autoencoder for anomaly detection on 640 log-mel features."""
    import keras
    from keras import layers

    inputs = keras.Input((640,))
    x = inputs
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = layers.Dense(units)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    outputs = layers.Dense(640)(x)
    return keras.Model(inputs, outputs, name="ad01")


# --- mobile classics (keras.applications, random weights) ----------------------------


def _app(name: str, **kwargs):
    def build():
        import keras

        return getattr(keras.applications, name)(weights=None, **kwargs)

    build.__name__ = f"keras.applications.{name}"
    return build


_MLPERF_REF = ("mlcommons/tiny reference Keras definition ({}), "
               "counted as deployed: batch norm folded, biases included")

ARCHS: dict[str, ArchSpec] = {s.arch: s for s in [
    ArchSpec("kws01", "keyword spotting (12 classes)", (1, 49, 10, 1), "normal", kws01_ds_cnn,
             2.66e6, 22.6e3, _MLPERF_REF.format("v0.1/training/keyword_spotting/keras_model.py")),
    ArchSpec("vww01", "visual wake words (person / no person)", (1, 96, 96, 3), "unit",
             vww01_mobilenet_v1_025, 7.49e6, 211e3,
             _MLPERF_REF.format("v0.1/benchmarks/visual_wake_words/vww_model.py")),
    ArchSpec("ic01", "image classification (CIFAR-10)", (1, 32, 32, 3), "unit", ic01_resnet8,
             12.5e6, 77.7e3, _MLPERF_REF.format("v0.1/benchmarks/image_classification/keras_model.py")),
    ArchSpec("ad01", "anomaly detection (ToyADMOS autoencoder)", (1, 640), "normal",
             ad01_fc_autoencoder, 0.264e6, 266e3,
             _MLPERF_REF.format("v0.1/benchmarks/anomaly_detection/keras_model.py")),
    ArchSpec("mobilenet_v1_1.0_224", "image classification (ImageNet)", (1, 224, 224, 3),
             "symmetric", _app("MobileNet", input_shape=(224, 224, 3), alpha=1.0),
             569e6, 4.2e6, "Howard et al. 2017, MobileNets, Table 8 (569 M mult-adds, 4.2 M params)",
             onnx=True),
    ArchSpec("mobilenet_v2_1.0_224", "image classification (ImageNet)", (1, 224, 224, 3),
             "symmetric", _app("MobileNetV2", input_shape=(224, 224, 3), alpha=1.0),
             300e6, 3.47e6,
             "Sandler et al. 2018, MobileNetV2, Table 4 (300 M MAdds); params 3.47 M from the "
             "authors' checkpoint table (tensorflow/models slim mobilenet README, also in the "
             "keras.applications mobilenet_v2 docstring) which the paper rounds down to 3.4 M",
             onnx=True),
    ArchSpec("mobilenet_v2_0.35_96", "image classification (ImageNet)", (1, 96, 96, 3),
             "symmetric", _app("MobileNetV2", input_shape=(96, 96, 3), alpha=0.35),
             11e6, 1.66e6,
             "authors' checkpoint table (tensorflow/models slim mobilenet README: 11 M MACs, 1.66 M params)",
             onnx=True, commit_fp32=True),
    ArchSpec("mobilenet_v3_small_1.0_224", "image classification (ImageNet)", (1, 224, 224, 3),
             "symmetric",
             _app("MobileNetV3Small", input_shape=(224, 224, 3), include_preprocessing=False),
             56e6, 2.5e6, "Howard et al. 2019, Searching for MobileNetV3, Table 3 (56 M MAdds, 2.5 M params)",
             onnx=True),
    ArchSpec("efficientnet_b0_224", "image classification (ImageNet)", (1, 224, 224, 3), "pixels",
             _app("EfficientNetB0", input_shape=(224, 224, 3)),
             390e6, 5.3e6, "Tan & Le 2019, EfficientNet, Table 2 (0.39 B FLOPs = multiply-adds, 5.3 M params)",
             onnx=True),
    ArchSpec("resnet50_224", "image classification (ImageNet)", (1, 224, 224, 3), "symmetric",
             _app("ResNet50", input_shape=(224, 224, 3)),
             3.8e9, 25.6e6, "He et al. 2016, Deep Residual Learning, Table 1 (3.8e9 FLOPs = multiply-adds); "
             "25.6 M params (keras.applications documentation)",
             onnx=True, build_on_demand=True),
]}
