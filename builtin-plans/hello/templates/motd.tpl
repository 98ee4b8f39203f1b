${motd}: ${host} runs ${kernel}
