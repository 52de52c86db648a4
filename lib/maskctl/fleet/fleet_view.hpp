#pragma once
// Every camera of a broker side by side: what `maskctl stats --mqtt` shows. Fed with the messages of
// <prefix>/+/stats and <prefix>/+/available (retained ones first, then live), it keeps each camera's
// latest statistics and availability. Pure bookkeeping: no network, no threads, no locks.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "maskctl/fleet/mqtt_client.hpp"

namespace maskctl {

struct CameraState {
    std::string name;
    std::string available;          // online | offline | "" (never said)
    std::optional<nlohmann::json> stats;  // the stats payload (mqtt_output.hpp), last received

    // online | offline | stale (online, but no stats for 3 stats intervals) | unknown
    std::string state(double now) const;
    double age(double now) const;  // seconds since its last stats (detector's clock); -1 without stats
};

class FleetView {
public:
    explicit FleetView(std::string prefix = "maskctl");

    // The topic filters to subscribe to.
    std::vector<std::string> topics() const;
    // One message; false when it is not a stats or availability message of a camera (ignored).
    // A stats payload that is not JSON is ignored too: one bad publisher must not blank the table.
    bool add(const MqttMessage& message);

    std::vector<CameraState> cameras() const;  // by name
    // All cameras together: people summed, compliance of the sums (null when nobody was seen).
    nlohmann::json totals() const;

    // {"cameras": [{"name", "state", "age", "stats"}], "total": totals()}
    nlohmann::json to_json(double now) const;
    // A fixed-width table, one camera per line and a total line:
    // camera  state  people  mask  no mask  other  compliance  last hour  violations  fps  age
    std::string table(double now) const;

private:
    std::string prefix_;
    std::map<std::string, CameraState> cameras_;
};

}  // namespace maskctl
