#include <catch2/catch.hpp>

#include "maskctl/core/errors.hpp"
#include "maskctl/train/lr_schedule.hpp"
#include "maskctl/core/run_dir.hpp"
#include "test_helpers.hpp"

using maskctl::LrSchedule;
using maskctl::ScheduleConfig;

TEST_CASE("run folders are numbered exp, exp2, exp3 and never reused", "[train]") {
    maskctl::test::TempDir tmp;
    const auto parent = tmp.path() / "runs" / "train";
    CHECK(maskctl::create_run_dir(parent).filename() == "exp");
    CHECK(maskctl::create_run_dir(parent).filename() == "exp2");
    CHECK(maskctl::create_run_dir(parent).filename() == "exp3");
    CHECK(maskctl::create_run_dir(parent, "masks").filename() == "masks");
    CHECK(maskctl::create_run_dir(parent, "masks").filename() == "masks2");
    std::filesystem::remove(parent / "exp2");
    CHECK(maskctl::create_run_dir(parent).filename() == "exp2");  // the first free name
    CHECK_THROWS_AS(maskctl::create_run_dir(parent, "a/b"), maskctl::IoError);
}

TEST_CASE("learning-rate schedules", "[train]") {
    ScheduleConfig c;
    SECTION("Keras legacy decay is per iteration") {
        c.type = maskctl::ScheduleType::legacy_decay;
        c.decay = 1e-4 / 20;
        LrSchedule s(c, 1e-4, 20);
        CHECK(s.lr(0, 0) == 1e-4);
        CHECK(s.lr(3, 1000) == Approx(1e-4 / (1 + 5e-6 * 1000)));
    }
    SECTION("step") {
        c.type = maskctl::ScheduleType::step;
        c.step_size = 5;
        c.gamma = 0.5;
        LrSchedule s(c, 0.1, 20);
        CHECK(s.lr(4, 0) == Approx(0.1));
        CHECK(s.lr(5, 0) == Approx(0.05));
        CHECK(s.lr(12, 0) == Approx(0.025));
    }
    SECTION("cosine goes from lr to min_lr") {
        c.type = maskctl::ScheduleType::cosine;
        c.min_lr = 0.001;
        LrSchedule s(c, 0.1, 10);
        CHECK(s.lr(0, 0) == Approx(0.1));
        CHECK(s.lr(5, 0) == Approx(0.001 + 0.099 * 0.5));
        CHECK(s.lr(10, 0) == Approx(0.001));
    }
    SECTION("reduce on plateau drops after patience epochs without improvement, and resumes") {
        c.type = maskctl::ScheduleType::plateau;
        c.patience = 1;
        c.factor = 0.1;
        LrSchedule s(c, 1.0, 10);
        s.end_epoch(1.0);
        s.end_epoch(0.9);
        s.end_epoch(0.95);  // 1 bad epoch: within patience
        CHECK(s.lr(3, 0) == Approx(1.0));
        s.end_epoch(0.92);  // 2 bad epochs: drop
        CHECK(s.lr(4, 0) == Approx(0.1));
        LrSchedule resumed(c, 1.0, 10);
        resumed.load_state(s.state());
        CHECK(resumed.lr(4, 0) == Approx(0.1));
    }
    SECTION("constant") {
        c.type = maskctl::ScheduleType::constant;
        CHECK(LrSchedule(c, 0.01, 5).lr(4, 999) == 0.01);
    }
}
