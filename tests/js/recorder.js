// What the probes share: each call's answer (or its error, as Kite's error_type and message) under its name.
function recorder() {
  const seen = {};
  async function call(name, work) {
    try {
      seen[name] = { data: await work() };
    } catch (error) {
      seen[name] = { error: `${error.error_type}: ${error.message}` };
    }
    return seen[name].data;
  }
  return { seen, call };
}

module.exports = { recorder };
