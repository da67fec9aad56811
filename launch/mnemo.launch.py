"""Start mnemo_node, Mnemo's spatio-temporal memory, as a ROS 2 node.

    ros2 launch mnemo mnemo.launch.py [namespace:=robot1] [params_file:=my.yaml]
        [use_sim_time:=true] [db_path:=/data/memory.db] [rerun:=connect=192.168.1.5:9876]

Parameters come from params_file (default: the package's params/mnemo.yaml, every key
documented) and then the launch arguments, which win.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description():
    share = get_package_share_directory("mnemo")
    ros_home = os.environ.get("ROS_HOME", os.path.join(os.path.expanduser("~"), ".ros"))
    args = [
        DeclareLaunchArgument("namespace", default_value="", description="Node namespace"),
        DeclareLaunchArgument(
            "params_file",
            default_value=os.path.join(share, "launch", "params", "mnemo.yaml"),
            description="ROS 2 params file",
        ),
        DeclareLaunchArgument(
            "use_sim_time", default_value="false", description="Use /clock (bags, simulation)"
        ),
        DeclareLaunchArgument(
            "db_path",
            default_value=os.path.join(ros_home, "mnemo", "memory.db"),
            description="Memory database file",
        ),
        DeclareLaunchArgument(
            "rerun",
            default_value="off",
            description="Rerun: off, save[=FILE.rrd], connect[=HOST:PORT], spawn",
        ),
    ]
    node = Node(
        package="mnemo",
        executable="mnemo_node",
        name="mnemo",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool),
                "db_path": ParameterValue(LaunchConfiguration("db_path"), value_type=str),
                "rerun": ParameterValue(LaunchConfiguration("rerun"), value_type=str),
            },
        ],
    )
    return LaunchDescription(args + [node])
