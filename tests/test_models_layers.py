import pytest

from imsim.errors import UserError
from imsim.models.layers import keep_layers, layer_of, parse_layers


def test_parse_layers():
    assert parse_layers("all", 6) is None
    assert parse_layers("0,3", 6) == frozenset({0, 3})
    for bad in ("6", "-1", "a", "", "0,,x"):
        with pytest.raises(UserError, match="--layers"):
            parse_layers(bad, 6)


def test_layer_of_module_paths():
    assert layer_of("encoder.layer.3.attention.self.query") == 3
    assert layer_of("encoder.layer.11.attention.self.attn_qk[5]") == 11
    assert layer_of("prefill/layers.29.mlp.down_proj/dA") == 29
    assert layer_of("decode0/layers.2.self_attn.attn_pv#2") == 2
    assert layer_of("lm_head") is None and layer_of("similarity") is None
    keep = keep_layers(frozenset({0}))
    assert keep("layers.0.mlp.up_proj") and not keep("layers.10.mlp.up_proj") and keep("lm_head")
    assert keep_layers(None) is None
