// Generates MAVLink v1 and v2 frames with node-mavlink (an implementation this project did not
// write, pinned in tests/npm/package-lock.json) for tests/feeds/mavlink_bridge_test.cpp.
// Usage: node tests/feeds/mavlink_frames.cjs OUT.json
// Output: [{ "name", "version", "msgid", "sysid", "hex", "fields": {...expected values...} }, ...]
'use strict';
const path = require('path');
const fs = require('fs');
const { MavLinkProtocolV1, MavLinkProtocolV2, minimal, common } =
    require(path.join(__dirname, '..', 'npm', 'node_modules', 'node-mavlink'));

const out = [];
function add(name, version, sysid, msg, fields, seq) {
    const proto = version === 1 ? new MavLinkProtocolV1(sysid, 1) : new MavLinkProtocolV2(sysid, 1);
    const buf = proto.serialize(msg, seq);
    out.push({ name, version, msgid: msg.constructor.MSG_ID, sysid, hex: buf.toString('hex'), fields });
}

for (const version of [1, 2]) {
    const hb = new minimal.Heartbeat();
    hb.type = minimal.MavType.QUADROTOR;            // 2
    hb.autopilot = minimal.MavAutopilot.PX4;        // 12
    hb.baseMode = 0x80 | 0x01;                      // armed + custom mode
    hb.customMode = 65536;
    hb.systemStatus = minimal.MavState.ACTIVE;      // 4
    hb.mavlinkVersion = 3;
    add('heartbeat', version, 7, hb, { type: 2, autopilot: 12, armed: true, custom_mode: 65536, system_status: 4 }, 1);

    const pos = new common.GlobalPositionInt();
    pos.timeBootMs = 123456;
    pos.lat = 522732150;     // 52.2732150 deg (Twente Airport)
    pos.lon = 68917120;      // 6.8917120 deg
    pos.alt = 65400;         // 65.4 m MSL
    pos.relativeAlt = 30250; // 30.25 m
    pos.vx = 550;            // 5.5 m/s
    pos.vy = -120;
    pos.vz = 0;              // zero: exercises v2 truncation together with hdg below
    pos.hdg = 9000;          // 90 deg
    add('position', version, 7, pos,
        { lat_deg: 52.273215, lon_deg: 6.891712, alt_m: 65.4, rel_alt_m: 30.25, vx_mps: 5.5, vy_mps: -1.2, hdg_deg: 90 }, 2);

    const st = new common.SysStatus();
    st.onboardControlSensorsPresent = 0x3f;
    st.onboardControlSensorsEnabled = 0x3f;
    st.onboardControlSensorsHealth = 0x3f;
    st.load = 250;           // 25.0 %
    st.voltageBattery = 15800;
    st.currentBattery = 1230;
    st.dropRateComm = 0;
    st.errorsComm = 0;
    st.batteryRemaining = 76;
    add('status', version, 7, st, { voltage_v: 15.8, current_a: 12.3, battery_remaining_pct: 76, load_pct: 25 }, 3);

    const bat = new common.BatteryStatus();
    bat.id = 0;
    bat.currentConsumed = 1500;
    bat.energyConsumed = 2000;
    bat.temperature = 3150;  // 31.5 degC
    bat.voltages = [3950, 3950, 3950, 3950, 65535, 65535, 65535, 65535, 65535, 65535];
    bat.currentBattery = 1230;
    bat.batteryRemaining = 18;
    bat.timeRemaining = 0;   // trailing zeros: the v2 frame is truncated
    bat.chargeState = 0;
    bat.voltagesExt = [0, 0, 0, 0];
    bat.mode = 0;
    bat.faultBitmask = 0;
    add('battery', version, 7, bat, { voltage_v: 15.8, current_a: 12.3, remaining_pct: 18, temperature_c: 31.5,
                                      consumed_mah: 1500, energy_j: 200000 }, 4);
}

// OPEN_DRONE_ID messages have ids above 255: MAVLink 2 only.
const basic = new common.OpenDroneIdBasicId();
basic.targetSystem = 0;
basic.targetComponent = 0;
basic.idOrMac = new Array(20).fill(0);
basic.idType = 1;  // serial number
basic.uaType = 2;  // helicopter or multirotor
basic.uasId = Array.from(Buffer.from('NLD-SPACE53-0007'.padEnd(20, '\0'), 'latin1'));
add('odid_basic', 2, 7, basic, { kind: 'basic_id', id_type: 1, ua_type: 2, uas_id: 'NLD-SPACE53-0007' }, 5);

const loc = new common.OpenDroneIdLocation();
loc.targetSystem = 0;
loc.targetComponent = 0;
loc.idOrMac = new Array(20).fill(0);
loc.status = 2;          // airborne
loc.direction = 9000;
loc.speedHorizontal = 550;
loc.speedVertical = -50;
loc.latitude = 522732150;
loc.longitude = 68917120;
loc.altitudeBarometric = 64.5;
loc.altitudeGeodetic = 65.5;
loc.heightReference = 0;
loc.height = 30.25;
loc.horizontalAccuracy = 10;
loc.verticalAccuracy = 4;
loc.barometerAccuracy = 3;
loc.speedAccuracy = 2;
loc.timestamp = 1234.5;
loc.timestampAccuracy = 1;
add('odid_location', 2, 7, loc, { kind: 'location', status: 2, lat_deg: 52.273215, lon_deg: 6.891712, alt_baro_m: 64.5,
                                  height_m: 30.25, direction_deg: 90, speed_h_mps: 5.5, speed_v_mps: -0.5, timestamp_s: 1234.5 }, 6);

// A message we do not decode (ATTITUDE, id 30), to check it is counted as unknown_id.
const att = new common.Attitude();
att.timeBootMs = 1; att.roll = 0.1; att.pitch = 0.2; att.yaw = 0.3; att.rollspeed = 0; att.pitchspeed = 0; att.yawspeed = 0;
add('attitude', 2, 7, att, {}, 7);

fs.writeFileSync(process.argv[2], JSON.stringify(out, null, 1));
