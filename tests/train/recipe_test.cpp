// train::Recipe: text form (parse and print), equality, presets and validation.
#include "qtorch/train/recipe.h"

#include <gtest/gtest.h>

#include <string>

#include "qtorch/core/error.h"

namespace qtorch::train {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_recipe(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Recipe, DefaultIsFloat32AfterLinearConvNorm) {
  const Recipe r;
  for (Role role : kRoles) EXPECT_FALSE(r[role].quantized()) << role_name(role);
  EXPECT_FALSE(r.quantizes_model());
  EXPECT_FALSE(r.quantizes_optimizer());
  EXPECT_EQ(to_string(r),
            "weight=fp32; activation=fp32; error=fp32; grad=fp32; momentum=fp32; acc=fp32; "
            "after=linear,conv,normalization; loss_scale=none");
  EXPECT_EQ(r, preset("fp32"));
}

TEST(Recipe, PrintsAndParsesBack) {
  Recipe r;
  r[Role::Weight] = {FixedPoint{.wl = 8, .fl = 6}, Rounding::Stochastic};
  r[Role::Error] = {formats::fp8_e5m2(), Rounding::Nearest};
  r[Role::Grad] = {BlockFloatingPoint{.wl = 8, .dim = 0}, Rounding::NearestEven};
  r.quantize_after = {nn::LayerKind::Activation, nn::LayerKind::Linear};
  r.loss_scaling = {LossScaling::Kind::Dynamic, 1024, 100};
  r.quantize_initial_weights = true;
  const std::string text = to_string(r);
  EXPECT_EQ(text,
            "weight=fixed:8:6 stochastic; activation=fp32; error=e5m2 nearest; grad=block:8:0 nearest_even; "
            "momentum=fp32; acc=fp32; after=linear,activation; loss_scale=dynamic:1024:100; "
            "quantize_initial_weights");
  EXPECT_EQ(parse_recipe(text), r);
  for (const Preset& p : presets()) EXPECT_EQ(parse_recipe(to_string(p.recipe)), p.recipe) << p.name;
}

TEST(Recipe, ParsesPartialTextWithDefaults) {
  const Recipe r = parse_recipe(" weight = fixed:16:14 stochastic ;loss_scale=static:128");
  EXPECT_EQ(r[Role::Weight].number, std::optional<Number>(FixedPoint{.wl = 16, .fl = 14}));
  EXPECT_EQ(r[Role::Weight].rounding, Rounding::Stochastic);
  EXPECT_FALSE(r[Role::Activation].quantized());
  EXPECT_EQ(r.loss_scaling, (LossScaling{LossScaling::Kind::Static, 128, 2000}));
  EXPECT_EQ(r.quantize_after, Recipe{}.quantize_after);
  EXPECT_EQ(parse_recipe("after=all").quantize_after.size(), 5u);
  EXPECT_TRUE(parse_recipe("after=none").quantize_after.empty());
}

TEST(Recipe, EqualityIgnoresTheRoundingOfFloat32Roles) {
  Recipe a, b;
  b[Role::Grad].rounding = Rounding::Stochastic;  // no format: nothing to round
  EXPECT_EQ(a, b);
  b[Role::Grad].number = FixedPoint{.wl = 8, .fl = 4};
  a[Role::Grad].number = FixedPoint{.wl = 8, .fl = 4};
  EXPECT_NE(a, b);
  b.master_weights = true;
  a[Role::Grad].rounding = Rounding::Stochastic;
  EXPECT_NE(a, b);
}

TEST(Recipe, ARoleOutsideTheSixIsAnErrorNotARead) {
  Recipe r;
  const Role cast = static_cast<Role>(kNumRoles);
  try {
    (void)r[cast];
    ADD_FAILURE() << "no error for an out-of-range role";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected a role (0 to 5), got the value 6"), std::string::npos) << e.what();
  }
  EXPECT_THROW(role_name(static_cast<Role>(-1)), Error);
  EXPECT_EQ(role_index(Role::Acc), kNumRoles - 1);
}

TEST(Recipe, ParseErrorsNameTheKey) {
  EXPECT_EQ(error_of("weight=float:9:99 nearest").rfind("parse_recipe: weight: ", 0), 0u) << error_of("weight=float:9:99 nearest");
  EXPECT_EQ(error_of("grad=fixed:8:4 upish").rfind("parse_recipe: grad: ", 0), 0u) << error_of("grad=fixed:8:4 upish");
  EXPECT_NE(error_of("colour=fp32").find("got 'colour'"), std::string::npos);
  EXPECT_NE(error_of("weight=fp32; weight=fp32").find("given twice"), std::string::npos);
  EXPECT_NE(error_of("after=linear,banana").find("'banana'"), std::string::npos);
  EXPECT_NE(error_of("after=linear,linear").find("named twice"), std::string::npos);
  EXPECT_NE(error_of("loss_scale=static:0").find("loss_scale"), std::string::npos);
  EXPECT_NE(error_of("weight=fixed:8:4").find("expected 'FORMAT ROUNDING'"), std::string::npos);
  EXPECT_NE(error_of("master_weights=yes").find("bare flag"), std::string::npos);
}

TEST(Recipe, CommunicationFormatText) {
  Recipe r;
  r.comm = {BlockFloatingPoint{.wl = 8, .dim = 0}, Rounding::Stochastic};
  r.comm_error_feedback = true;
  const std::string text = to_string(r);
  EXPECT_EQ(text,
            "weight=fp32; activation=fp32; error=fp32; grad=fp32; momentum=fp32; acc=fp32; "
            "after=linear,conv,normalization; loss_scale=none; comm=block:8:0 stochastic; comm_error_feedback");
  EXPECT_EQ(parse_recipe(text), r);
  EXPECT_EQ(parse_recipe("comm=mxfp8 nearest").comm, (RoleFormat{formats::mxfp8(), Rounding::Nearest}));
  Recipe no_feedback = r;
  no_feedback.comm_error_feedback = false;
  EXPECT_NE(no_feedback, r);
  // Not a training role: comm changes nothing a single process quantizes.
  EXPECT_FALSE(parse_recipe("comm=e4m3 nearest").quantizes_model());
  EXPECT_FALSE(parse_recipe("comm=e4m3 nearest").quantizes_optimizer());
  EXPECT_NE(error_of("comm=nvfp4 nearest").find("recipe comm: expected a format whose values can be sent as codes"),
            std::string::npos)
      << error_of("comm=nvfp4 nearest");
  EXPECT_NE(error_of("comm_error_feedback").find("expects a comm format, got comm=fp32"), std::string::npos)
      << error_of("comm_error_feedback");
  EXPECT_NE(error_of("comm=block:8 sideways").find("parse_recipe: comm: "), std::string::npos);
}

TEST(Recipe, LossScalingText) {
  EXPECT_EQ(parse_loss_scaling("").kind, LossScaling::Kind::None);
  EXPECT_EQ(parse_loss_scaling("none").kind, LossScaling::Kind::None);
  EXPECT_EQ(parse_loss_scaling("dynamic"), (LossScaling{LossScaling::Kind::Dynamic, 65536, 2000}));
  EXPECT_EQ(parse_loss_scaling("dynamic:1024"), (LossScaling{LossScaling::Kind::Dynamic, 1024, 2000}));
  EXPECT_EQ(parse_loss_scaling("dynamic:1024:50"), (LossScaling{LossScaling::Kind::Dynamic, 1024, 50}));
  EXPECT_EQ(parse_loss_scaling("multiplier:1000"), (LossScaling{LossScaling::Kind::Multiplier, 1000, 2000}));
  EXPECT_EQ(to_string(parse_loss_scaling("static:0.5")), "static:0.5");
  for (const char* bad : {"static", "static:", "static:0", "static:-2", "static:inf", "dyn", "static:1:2",
                          "dynamic:8:0", "dynamic:8:1.5", "multiplier", "multiplier:nan"})
    EXPECT_THROW(parse_loss_scaling(bad), Error) << bad;
}

// A loss scale multiplies float32 losses and gradients: outside float32's normal range it
// trained nothing (static:1e300, whose float32 conversion is undefined behaviour), or
// reported divergence (static:1e-50, which is 0 in float32). Numbers are decimal, spelt
// without blanks, as the command lines' other numbers.
TEST(Recipe, LossScaleIsANormalFloat32WrittenInDecimal) {
  EXPECT_EQ(parse_loss_scaling("static:3.4028234663852886e+38").scale, 3.4028234663852886e+38);
  EXPECT_EQ(parse_loss_scaling("multiplier:1.1754943508222875e-38").scale, 1.1754943508222875e-38);
  for (const char* bad : {"static:1e300", "dynamic:1e300", "multiplier:1e300", "static:3.5e38", "static:1e-50",
                          "static:1e-320", "multiplier:1e-320", "dynamic:1e-39", "static: 1024", "static:0x10",
                          "static:+2", "dynamic:8: 50", "dynamic:8:0x10"}) {
    try {
      parse_loss_scaling(bad, "--loss-scale");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("--loss-scale: expected none, static:S") ), std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find(std::string("got '") + bad + "'"), std::string::npos) << e.what();
    }
  }
  try {
    parse_loss_scaling("static:1e300", "--loss-scale");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("float32's normal range [1.1754943508222875e-38, 3.4028234663852886e+38]"),
              std::string::npos)
        << e.what();
  }
  Recipe r;
  r.loss_scaling = {LossScaling::Kind::Static, 1e300, 2000};
  EXPECT_THROW(r.validate(), Error);
}

// A dynamic scale starts inside [min_scale, max_scale] of the scaler that keeps it (2^-16 to
// 2^40 by default): the parser and validate() say so, not the LossScaler once data is loaded.
TEST(Recipe, DynamicLossScaleStartsInsideTheScalersRange) {
  EXPECT_EQ(parse_loss_scaling("dynamic:1099511627776").scale, 1099511627776.0);
  EXPECT_EQ(parse_loss_scaling("dynamic:1.52587890625e-05").scale, 1.0 / 65536);
  for (const char* bad : {"dynamic:3e38", "dynamic:1e-6", "dynamic:2199023255552:10"})
    try {
      parse_loss_scaling(bad, "--loss-scale");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("a dynamic S in the dynamic scaler's range [1.52587890625e-05, 1099511627776]"),
                std::string::npos)
          << e.what();
    }
  EXPECT_EQ(parse_loss_scaling("static:3e38").scale, 3e38);  // a static scale is not kept in that range
  Recipe r;
  r.loss_scaling = {LossScaling::Kind::Dynamic, 3e38, 2000};
  EXPECT_THROW(r.validate(), Error);
}

// Found by tests/fuzz/recipe_fuzz: an interval too large for int64 (here 2e24) was
// converted to int64 before the range check rejected it, undefined behaviour that
// scripts/sanitize.sh reports. Now it is only a qtorch::Error.
TEST(Recipe, HugeLossScaleIntervalIsAnErrorNotAnOverflow) {
  EXPECT_THROW(parse_loss_scaling("dynamic:65536:2008888888888888888888888"), Error);
  EXPECT_THROW(parse_loss_scaling("dynamic:1:1e300"), Error);
  EXPECT_THROW(parse_loss_scaling("dynamic:1:1e12.5"), Error);
  EXPECT_EQ(parse_loss_scaling("dynamic:1:1e12").growth_interval, int64_t{1000000000000});
  const std::string finding =
      "weight=float:4:3:bias=-11 nearest; acc=fp32 stochastic; after=all; loss_scale=dynamic:65536:2008888888888888888888888ght=bf08 s88888888888888888888888888888888888\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036\036(\036\036\036\036\036\036\036\036\036\036\036\033\036\036\036\036\036\036\036\036\355\355\355\355\355\355\355\355\355\355\355\355\355\355\355\355\355\355\355\355\355~\355\355; master_weights";
  EXPECT_NE(error_of(finding).find("loss_scale"), std::string::npos);
}

TEST(Recipe, ValidationRejectsInvalidCombinations) {
  Recipe block;
  block[Role::Activation] = {BlockFloatingPoint{.wl = 8, .dim = 0}, Rounding::Nearest};
  block.clamping_grad_zero = true;
  try {
    block.validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("clamping_grad_zero"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("got BlockFloatingPoint(wl=8, dim=0)"), std::string::npos) << e.what();
  }
  Recipe none;
  none.clamping_grad_zero = true;  // no activation format: nothing clamps
  EXPECT_THROW(none.validate(), Error);
  Recipe ok;
  ok[Role::Activation] = {FixedPoint{.wl = 8, .fl = 4}, Rounding::Nearest};
  ok.clamping_grad_zero = true;
  EXPECT_NO_THROW(ok.validate());

  Recipe multiplier;
  multiplier.loss_scaling = {LossScaling::Kind::Multiplier, 1000};
  EXPECT_THROW(multiplier.validate(), Error);  // nothing divides the gradients back
  multiplier[Role::Grad] = {formats::fp8_e5m2(), Rounding::Nearest};
  EXPECT_NO_THROW(multiplier.validate());

  Recipe master;
  master.master_weights = true;
  master[Role::Acc] = {formats::fp16(), Rounding::Stochastic};
  EXPECT_THROW(master.validate(), Error);
  Recipe bad_scale;
  bad_scale.loss_scaling = {LossScaling::Kind::Static, -4};
  EXPECT_THROW(bad_scale.validate(), Error);
  EXPECT_THROW(parse_recipe("activation=e5m2 nearest; clamping_grad_zero"), Error);  // e5m2 overflows to inf
}

TEST(Recipe, Presets) {
  ASSERT_EQ(presets().size(), 11u);
  for (const Preset& p : presets()) {
    EXPECT_NO_THROW(p.recipe.validate()) << p.name;
    EXPECT_FALSE(p.summary.empty());
  }
  const Recipe& b8 = preset("block8");
  EXPECT_EQ(b8[Role::Activation].number, std::optional<Number>(BlockFloatingPoint{.wl = 8, .dim = 0}));
  EXPECT_EQ(b8[Role::Weight].rounding, Rounding::Stochastic);
  EXPECT_FALSE(b8[Role::Acc].quantized());
  EXPECT_TRUE(b8.quantizes_model());
  EXPECT_TRUE(b8.quantizes_optimizer());
  EXPECT_EQ(preset("fp8").loss_scaling.kind, LossScaling::Kind::Dynamic);
  EXPECT_EQ(preset("hfp8")[Role::Weight].number, std::optional<Number>(formats::hfp8_e4m3()));
  // MXFP8 (Rouhani et al.): e4m3 forward, e5m2 backward, nearest-even, float32 master weights.
  const Recipe& mx8 = preset("mxfp8");
  for (Role r : {Role::Weight, Role::Activation})
    EXPECT_EQ(mx8[r].number, std::optional<Number>(formats::mxfp8())) << role_name(r);
  for (Role r : {Role::Error, Role::Grad})
    EXPECT_EQ(mx8[r].number, std::optional<Number>(formats::mxfp8_e5m2())) << role_name(r);
  for (Role r : {Role::Weight, Role::Activation, Role::Error, Role::Grad}) {
    EXPECT_EQ(mx8[r].rounding, Rounding::NearestEven);
    EXPECT_EQ(preset("mxfp6")[r].rounding, Rounding::NearestEven);
    EXPECT_EQ(preset("mxfp4")[r].number, std::optional<Number>(formats::mxfp4())) << role_name(r);
    EXPECT_EQ(preset("nvfp4")[r].number, std::optional<Number>(formats::nvfp4())) << role_name(r);
  }
  EXPECT_EQ(preset("mxfp6")[Role::Activation].number, std::optional<Number>(formats::mxfp6()));
  EXPECT_EQ(preset("mxfp6")[Role::Error].number, std::optional<Number>(formats::mxfp6_e3m2()));
  for (const char* name : {"mxfp8", "mxfp6", "mxfp4", "nvfp4"}) {
    EXPECT_TRUE(preset(name).master_weights) << name;
    EXPECT_FALSE(preset(name)[Role::Momentum].quantized()) << name;
    EXPECT_FALSE(preset(name)[Role::Acc].quantized()) << name;
  }
  // Block-scaled formats in the recipe text, with options.
  const Recipe custom = parse_recipe("weight=mx:e2m1:16:0 stochastic; error=nvfp4:8 nearest_even");
  EXPECT_EQ(custom[Role::Weight].number, std::optional<Number>(MXFormat{.element = MXElement::E2M1, .block = 16, .axis = 0}));
  EXPECT_EQ(custom[Role::Error].number, std::optional<Number>(NVFP4Format{.block = 8}));
  EXPECT_EQ(parse_recipe(to_string(custom)), custom);
  // Multiply-accumulate inside the layers: fp16acc, and the text form.
  EXPECT_EQ(preset("fp16acc").mac_forward, std::optional<quant::MacOptions>(quant::parse_mac("acc=fp16,acc_rounding=nearest_even")));
  EXPECT_EQ(preset("fp16acc").mac_backward, preset("fp16acc").mac_forward);
  EXPECT_FALSE(preset("fp16acc").quantizes_model());
  const Recipe mac = parse_recipe("mac_forward=acc=fp16,mul=e5m2,chunk=64; mac_backward=acc=bf16,kahan");
  EXPECT_EQ(quant::mac_text(*mac.mac_forward), "acc=fp16,mul=e5m2,chunk=64");
  EXPECT_EQ(quant::mac_text(*mac.mac_backward), "acc=bf16,kahan");
  EXPECT_EQ(parse_recipe(to_string(mac)), mac);
  EXPECT_NE(mac, Recipe{});
  // fp32 or none (any case), as qtrain's --mac-forward takes them: the float32 product.
  const Recipe plain = parse_recipe("mac_forward=FP32; mac_backward=none");
  EXPECT_FALSE(plain.mac_forward.has_value());
  EXPECT_FALSE(plain.mac_backward.has_value());
  try {
    parse_recipe("mac_forward=acc=fp16,mul=e5m2,fma");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("parse_recipe: mac_forward:"), std::string::npos) << e.what();
  }
  try {
    preset("fp4");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fp32, block8, fixed16, bf16, fp8, hfp8, mxfp8, mxfp6, mxfp4, nvfp4, fp16acc"),
              std::string::npos);
  }
}

TEST(Recipe, Roles) {
  for (Role r : kRoles) EXPECT_EQ(parse_role(role_name(r)), r);
  EXPECT_THROW(parse_role("bias"), Error);
}

}  // namespace
}  // namespace qtorch::train
